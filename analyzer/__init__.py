"""Pure, vectorised detection kernels and the runner that feeds them."""
