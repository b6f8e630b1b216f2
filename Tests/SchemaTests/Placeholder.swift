import Testing

// Tests for this target are added by its own change.
