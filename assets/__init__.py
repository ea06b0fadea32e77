"""The files scriba ships beside its code: the bundled model (`model/`) and the demo document (`demo.md`).
Installed as the package `scriba_assets`; read them through `engine.resources`, not by path."""
