"""Recursive vision: TRM's core on images.

``cifar`` / ``download`` / ``synthetic`` read, fetch and make image datasets in the CIFAR
format; ``augment`` transforms image batches; ``models`` holds ViT and ViTRM, built from
trm's block (:mod:`trm.layers`) and recursion (:mod:`trm.recursion`); ``training`` trains
and evaluates them with trm's loop (:class:`trm.train.Trainer`).
"""
