"""scriba: everything the writer touches (CLI, document tree, store, file sync, TUI)."""
