namespace P2PNet.Proxy.Outbound;

/// <summary>A net-api call that could not be done: <see cref="StatusCode"/> is the HTTP status the API answers with
/// (400 bad input, 404 unknown network or node, 409 conflict, 502 the invited node did not join).</summary>
public sealed class NetApiException : Exception
{
    /// <summary>Creates the exception.</summary>
    public NetApiException(int statusCode, string message, Exception? innerException = null) : base(message, innerException) => StatusCode = statusCode;

    /// <summary>Creates the exception (400).</summary>
    public NetApiException() : this(400, "The net-api call is not valid.")
    {
    }

    /// <summary>Creates the exception (400).</summary>
    public NetApiException(string message) : this(400, message)
    {
    }

    /// <summary>Creates the exception (400).</summary>
    public NetApiException(string message, Exception innerException) : this(400, message, innerException)
    {
    }

    /// <summary>The HTTP status.</summary>
    public int StatusCode { get; }
}
