"""vision: the recursive core applied to image classification (ViTRM and relatives).

Not built yet: see the "Recursive vision" issues. `trm vision` says so and exits 2.
"""
