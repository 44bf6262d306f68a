"""One module per `edgemcp` subcommand (see edgemcp_host.cli)."""
