"""One module per screen: the task it serves."""
