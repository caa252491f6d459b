"""The printed book: page layout (`pdf`), photos prepared for print (`photos`) and fonts (`fonts`)."""
