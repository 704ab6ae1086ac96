"""Rich renderings of domain results, shared by the CLI and the TUI (no Textual here)."""
