"""One detector per incident kind; each takes the window's grids and returns what it found."""
