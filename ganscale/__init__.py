"""ganscale: GAN training at scale with Hugging Face Accelerate."""

__version__ = "0.1.0"
