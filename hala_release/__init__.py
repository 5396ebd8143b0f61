"""hala-release: the HALA translate-and-tune recipe as versioned, publishable pipeline stages."""

__version__ = "0.1.0"
