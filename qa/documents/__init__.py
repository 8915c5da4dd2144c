"""Documents in: file types, PDF and DOCX text, HTML, cleaning, sentences and passages with offsets."""
