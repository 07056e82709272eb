DROP TABLE rename_moves;
DROP TABLE rename_sets;
DROP TABLE batch_files;
