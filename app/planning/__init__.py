"""planning domain: 双随机 sampling plans and their verifiable draws."""
