"""Corpora: readers, the data set registry, splits, cleaning and the data-quality report.

Everything here is TensorFlow-free except `keras_lm.data.pipelines` (tf.data),
which is imported only when asked for.

Example:
>>> from keras_lm import data
>>> "spa-eng" in data.available()
True
"""

from keras_lm.data.cleaning import CleaningConfig
from keras_lm.data.cleaning import CleanResult
from keras_lm.data.cleaning import clean
from keras_lm.data.corpus import Corpus
from keras_lm.data.corpus import LabelledRecord
from keras_lm.data.corpus import PairRecord
from keras_lm.data.corpus import TextRecord
from keras_lm.data.datasets import DatasetSplits
from keras_lm.data.datasets import available
from keras_lm.data.datasets import default_cleaning
from keras_lm.data.datasets import load
from keras_lm.data.quality import quality_report
from keras_lm.data.quality import write_report
from keras_lm.data.readers import read_corpus
from keras_lm.data.readers import read_labelled
from keras_lm.data.readers import read_parallel
from keras_lm.data.readers import read_text
from keras_lm.data.splits import SplitInfo
from keras_lm.data.writers import write_corpus

__all__ = [
    "CleanResult",
    "CleaningConfig",
    "Corpus",
    "DatasetSplits",
    "LabelledRecord",
    "PairRecord",
    "SplitInfo",
    "TextRecord",
    "available",
    "clean",
    "default_cleaning",
    "load",
    "quality_report",
    "read_corpus",
    "read_labelled",
    "read_parallel",
    "read_text",
    "write_corpus",
    "write_report",
]
