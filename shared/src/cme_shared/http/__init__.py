"""HTTP pieces every service shares: the app factory, operational endpoints and the error format."""
