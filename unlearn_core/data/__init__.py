"""Datasets: one registry (`load_dataset(name, **options)`) over built-in and local datasets.

Importing this package registers the built-in datasets (digits, shapes) and the local folder
loaders (MNIST, FashionMNIST, CIFAR-10/100, SVHN, ImageFolder).
"""

from unlearn_core.data import digits, local, shapes  # noqa: F401  (importing registers the datasets)
from unlearn_core.data.base import Split, SplitDataset, stratified_split
from unlearn_core.data.registry import DatasetInfo, get_dataset_info, list_datasets, load_dataset, register_dataset

__all__ = [
    "DatasetInfo",
    "Split",
    "SplitDataset",
    "get_dataset_info",
    "list_datasets",
    "load_dataset",
    "register_dataset",
    "stratified_split",
]
