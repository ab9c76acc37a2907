"""puzzles: one package per task (sudoku, ...) plus the shared on-disk dataset format."""
