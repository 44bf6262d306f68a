"""The example models committed in models/: every file is listed in SHA256SUMS with its
checksum, the raw person_detect inputs are the BMPs' pixels, and the label files fit their
models' outputs, so a clone without any other folder runs the tests and `make run`."""
import hashlib
import json
import subprocess

from support import DEVICE_BIN, ROOT
from test_tflite_models import bmp_gray

MODELS = ROOT / "models"


def test_every_file_listed_with_its_checksum():
    sums = dict(line.split()[::-1] for line in (MODELS / "SHA256SUMS").read_text().splitlines())
    files = {f.relative_to(MODELS).as_posix() for f in MODELS.rglob("*")
             if f.is_file() and f.name not in ("SHA256SUMS", "README.md", "LICENSE-tflite-micro")}
    assert set(sums) == files
    for name, digest in sums.items():
        assert hashlib.sha256((MODELS / name).read_bytes()).hexdigest() == digest, name


def test_raw_inputs_are_the_images_pixels():
    for name in ("person", "no_person"):
        assert (MODELS / f"{name}.raw").read_bytes() == bmp_gray(MODELS / f"{name}.bmp").tobytes()


def test_labels_match_the_outputs():
    code = ("import tflite, json, sys\n"
            "for n in sys.argv[1:]:\n"
            "    it = tflite.Interpreter(open(n, 'rb').read())\n"
            "    print(json.dumps(it.get_output_details(0)['shape']))\n")
    names = ("person_detect", "micro_speech_quantized")
    r = subprocess.run([str(DEVICE_BIN), "-X", "heapsize=2M", "-c", code, *(str(MODELS / f"{n}.tflite") for n in names)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    for name, shape in zip(names, r.stdout.split("\n")):
        labels = (MODELS / f"{name}.labels").read_text().split()
        assert len(labels) == json.loads(shape)[-1], name
    assert (MODELS / "person_detect.labels").read_text().split()[1] == "person"
