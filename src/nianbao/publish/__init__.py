"""The annual report as a document: render a record (.docx/.html/.md), import published ones."""
