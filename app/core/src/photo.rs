//! Document photos: decode, orient, downscale and re-encode without metadata.
