"""Does nothing: measures the backend's overhead per training job."""
