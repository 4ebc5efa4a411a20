"""Data: raw files found and read (sources), decoded and resized (decode), cached on disk (cache), served as the
dataset and its batches (dataset, batches), with class and tag conditions (conditions).

Owns: everything between a dataset's files and a batch of images in [-1, 1]. May import: settings and the
root's services (log, diskio).
"""
