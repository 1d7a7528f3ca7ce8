"""The bundled mixture-of-experts fine-tuning loop (issue 7); empty until then."""
