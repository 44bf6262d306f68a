# The device app, the one module that knows all the others: loads the configuration, hands
# each part what it needs of it, declares the built-in tools, and runs the links on one
# asyncio loop until the host closes the console, Ctrl-C, or a reset is asked for.
import asyncio
from . import config, server

_stop = None
_reset = False


def stop(reset=False):
    global _reset
    _reset = _reset or reset
    if _stop:
        _stop.set()


async def _until_done(coro):
    try:
        await coro
    except MemoryError as e:  # a heap too small to serve: say so on the console, not just leave
        _no_heap(e)
    finally:
        stop()


def _no_heap(e):
    import gc
    gc.collect()
    print("edgemcp: not enough heap to start (%s): %d bytes free of %d" % (e, gc.mem_free(), gc.mem_free() + gc.mem_alloc()))


async def _main(cfg, version):
    global _stop
    _stop = asyncio.Event()
    # a failed background task is logged, never printed: stdout carries the protocol
    asyncio.get_event_loop().set_exception_handler(
        lambda loop, c: server.log("error", "task failed: %r" % (c.get("exception"),)))
    from . import serial_link
    asyncio.create_task(_until_done(serial_link.serve(cfg["max_line"])))
    link = None
    from . import forward  # events drain over MQTT when there is a broker, else to a serial bridge
    if (cfg.get("mqtt") or {}).get("url"):
        from . import mqtt_link
        forward.mqtt_owns = True
        link = mqtt_link.start(cfg, version)
    await _stop.wait()
    if link:
        await link.close()  # clears its retained presence
    if _reset:
        await asyncio.sleep_ms(50)  # let the reply that asked for the reset go out


def run(config_dict=None, version="0", config_path=config.PATH):
    global _reset
    problem = None
    if config_dict is None:
        config_dict, problem = config.load(config_path)
    cfg = config.defaults()
    cfg.update(config_dict)
    server.settings.update(name=cfg["name"], version=version, page_bytes=cfg["page_bytes"],
                           max_message=cfg["max_line"], log_records=cfg["log_records"])
    from . import events, builtin
    events.policy, events.queue_dir, events.queue_size = cfg["queue_policy"], cfg["queue_dir"], cfg["queue_size"]
    try:
        import tflite  # noqa: F401  (the model runtime: a C module of the edgemcp image)
    except ImportError:  # stock firmware: no infer tool, and device_info says why
        builtin.setup(cfg, stop, "no tflite module: stock firmware; install the native module or the edgemcp image")
    else:
        builtin.setup(cfg, stop)
        from . import models  # the model tools

        models.register(cfg)
    if cfg.get("test_tools"):
        from . import testtools  # noqa: F401
    if problem:
        server.log("warning", problem)
    for name in cfg.get("modules") or ():  # the user's own tool modules on the device filesystem
        try:
            __import__(name)
        except Exception as e:  # a broken module must not keep the device from serving
            server.log("error", "module %s not loaded: %r" % (name, e))
    _reset = False
    try:
        asyncio.run(_main(cfg, version))
    finally:
        asyncio.new_event_loop()
    if _reset:
        import machine
        machine.soft_reset()
