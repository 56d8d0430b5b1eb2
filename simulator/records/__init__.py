"""What a run leaves behind: recorder, frozen records, metrics, costs and typed summary."""
