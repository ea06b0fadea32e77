"""The editor starts, opens a document, records an edit and shows the outline before any model loads,
without importing torch: the model is loaded afterwards, in a worker, only when there is one to load."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_the_editor_opens_and_records_an_edit_without_importing_torch(essay, db_path):
    script = textwrap.dedent(f"""
        import asyncio, sys
        from app.tui.app import ScribaApp
        from engine.document import Document

        async def main():
            app = ScribaApp({str(essay)!r}, db_path={str(db_path)!r}, load_engine=False, watch=False)
            async with app.run_test(size=(120, 40)) as pilot:
                for _ in range(400):
                    if app.session is not None and not app.session.provisional:
                        break
                    await pilot.pause(0.05)
                node = next(n for n in app.doc.walk() if str(n.kind) == "sentence")
                edited = Document.from_records(app.doc.records())
                edited.set_text(node.id, "Changed by hand.")
                app.session.commit(edited, author="writer", operation="edit")
                await pilot.press("ctrl+q")  # a clean quit records everything
            assert "torch" not in sys.modules, "the editor imported torch before a model was asked for"
            from app.store import Store
            with Store({str(db_path)!r}) as store:
                info = store.find_document({str(essay.resolve())!r})
                texts = [n.text for n in store.current(info.id)[0].walk()]
            assert "Changed by hand." in texts, "the edit was not recorded"
            print("ok")

        asyncio.run(main())
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=180)
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), result.stderr[-2000:]
