namespace P2PNet.Transports;

/// <summary>
/// A connection layer whose data is delivered inline (<see cref="Tcp.TcpTransportOptions.LowLatency"/>): the layer
/// above then runs its own loops inline too, so a lone packet crosses every layer on the thread that received or
/// flushed it.
/// </summary>
internal interface IInlineDelivery
{
    /// <summary>Whether readers of this layer's input resume on the receiving thread and its output is sent on the
    /// flushing thread.</summary>
    bool DeliversInline { get; }
}
