"""nftables for the host firewall: JSON rendering (``render``), the command
port with its real and fake implementations (``port``)."""
