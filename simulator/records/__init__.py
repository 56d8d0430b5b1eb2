"""What a run leaves behind: incidents, and the measures computed from them."""
