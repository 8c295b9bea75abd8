"""Train this bundle's 1/language_id.joblib: a scikit-learn pipeline fitted on sentences.tsv.

Run it as a script or through ``python examples/build.py``. Training has no randomness, so
every run writes the same bytes.

The pipeline weighs the character 1- to 4-grams inside each word (" th", "sch", "ñ", "eau" are
strong hints) by TF-IDF, and a multinomial naive Bayes classifier, a classic for language
identification, turns them into a probability for each language of config.yaml.
"""

import io
from pathlib import Path

import joblib
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.naive_bayes import MultinomialNB
from sklearn.pipeline import Pipeline

HERE = Path(__file__).resolve().parent


def train() -> Pipeline:
    """Fit the pipeline on the tab-separated ``language<TAB>sentence`` lines of sentences.tsv."""
    lines = (HERE / "sentences.tsv").read_text(encoding="utf-8").splitlines()
    rows = [line.split("\t", 1) for line in lines]
    languages, sentences = zip(*rows, strict=True)
    pipeline = Pipeline(
        [
            ("ngrams", TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 4))),
            ("classify", MultinomialNB(alpha=0.1)),
        ]
    )
    return pipeline.fit(sentences, languages)


def build(output: Path | None = None) -> Path:
    """Write 1/language_id.joblib (by default); skip the write when it is up to date."""
    output = output or HERE / "1" / "language_id.joblib"
    buffer = io.BytesIO()
    joblib.dump(train(), buffer, compress=3)
    if not output.exists() or output.read_bytes() != buffer.getvalue():
        output.write_bytes(buffer.getvalue())
    return output


if __name__ == "__main__":
    path = build()
    print(f"wrote {path} ({path.stat().st_size} bytes)")
