"""Running the service: health checks, incidents, the scheduler, the background services of the app."""
