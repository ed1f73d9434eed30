"""Datasets: loaders for the real data that ships inside installed packages."""

from vega_lab.datasets.shipped import DATASETS, Dataset, load_dataset, train_test_split

__all__ = ["DATASETS", "Dataset", "load_dataset", "train_test_split"]
