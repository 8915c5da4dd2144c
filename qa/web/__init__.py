"""The server for people and programs: the JSON API and its bodies, the Gradio chat, uploads, HTML and network settings."""
