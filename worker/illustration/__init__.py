"""Drawing a book's pages from its photos (docs/pictures.md): the backends behind TALES_ILLUSTRATOR."""
