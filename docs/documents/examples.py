"""Render the example documents of docs/documents.md: ``make document-examples``.

Loads ``fieldsafe demo`` into a temporary SQLite database and writes the first page of each of
the four documents (and the record's signatures and photo pages) as PNGs at 70 dpi, rendered by
pdfium (pypdfium2, installed with pdfplumber), into the folder given (docs/documents by default).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))

DPI = 70


def main() -> None:
    import pypdfium2
    from sqlalchemy import select

    from app import create_app
    from app.db import get_db, session
    from app.documents.models import Document
    from app.models import metadata

    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(
            {
                "DATABASE_URL": f"sqlite:///{tmp}/examples.db",
                "SECRET_KEY": "examples",
                "MEDIA_ROOT": f"{tmp}/media",
                "MEDIA_SPOOL": f"{tmp}/spool",
            }
        )
        with app.app_context():
            metadata.create_all(get_db().engine)
            result = app.test_cli_runner().invoke(args=["demo"])
            assert result.exit_code == 0, result.output
            current = session.execute(select(Document).where(Document.current.is_(True)))
            documents = {d.kind: d for d in current.scalars()}
            for kind, doc in sorted(documents.items()):
                pdf = pypdfium2.PdfDocument(doc.pdf)
                pages = {kind: 0}
                if kind == "inspection_record":  # its signatures page, its first photo page
                    texts = [pdf[n].get_textpage().get_text_range() for n in range(len(pdf))]
                    signed = next(n for n, t in enumerate(texts) if doc.content["seal"] in t)
                    photos = next(n for n, t in enumerate(texts) if doc.content["appendix"] in t)
                    pages |= {f"{kind}-signatures": signed, f"{kind}-photos": photos}
                for name, n in pages.items():
                    image = pdf[n].render(scale=DPI / 72).to_pil()
                    image.save(out / f"{name}.png", optimize=True)
                    print(out / f"{name}.png")
            get_db().engine.dispose()


if __name__ == "__main__":
    main()
