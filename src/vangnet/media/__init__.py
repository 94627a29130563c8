"""Safe decoding of images and video in memory: limits, fast decode, frame sampling."""
