"""What Messenger and Instagram share: signatures, webhook events, the Graph API client,
the output channel and the input channel base. Each channel module holds only what differs."""
