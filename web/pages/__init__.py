"""The Korean pages: accounts, the front page and my books, a book's page, shared download links."""
