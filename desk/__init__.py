"""The service desk (客服热线): residents' calls taken by clerks, tied to what the network shows."""
