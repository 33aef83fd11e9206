"""Training data: sources, the index stream, and the batches a Trainer draws."""

from ganscale.data.batches import LoaderBatches, TensorBatches, make_batches
from ganscale.data.mnist import MNIST_FILES, load_mnist, resolve_root, torchvision_mnist
from ganscale.data.pixels import to_model_pixels
from ganscale.data.stream import IndexStream, StreamBatchSampler

__all__ = ["MNIST_FILES", "IndexStream", "LoaderBatches", "StreamBatchSampler", "TensorBatches", "load_mnist",
           "make_batches", "resolve_root", "to_model_pixels", "torchvision_mnist"]
