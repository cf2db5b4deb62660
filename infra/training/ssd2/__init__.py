"""SSD-2 training and export toolchain (PyTorch). Serving never imports this package."""
