//! One connection actor per address: opaque → pending map, absolute deadlines, a sweep for
//! expired requests, every pending request failed on disconnect.
