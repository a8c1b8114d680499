"""Documents service: documents and versions of each CTG, storage, antivirus, streaming."""
