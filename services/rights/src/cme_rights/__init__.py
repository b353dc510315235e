"""Rights: subject access and the other data-protection rights, on the statutory clock."""
