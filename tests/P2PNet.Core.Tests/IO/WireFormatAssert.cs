namespace P2PNet.Core.Tests.IO;

/// <summary>Checks the parsers' one promise about malformed input: they either succeed or throw
/// <see cref="WireFormatException"/> with a message; any other exception escapes and fails the test.</summary>
internal static class WireFormatAssert
{
    /// <summary>Runs <paramref name="parse"/>; true when it succeeded, false when it threw a
    /// <see cref="WireFormatException"/> that has a message. Anything else propagates.</summary>
    public static bool SucceedsOrThrowsWireFormat(Action parse)
    {
        try
        {
            parse();
            return true;
        }
        catch (WireFormatException e) when (e.GetType() == typeof(WireFormatException))
        {
            if (string.IsNullOrWhiteSpace(e.Message))
            {
                throw new InvalidOperationException("A WireFormatException must say what was wrong.", e);
            }
            return false;
        }
    }

    /// <summary>Asserts that <paramref name="parse"/> throws exactly <see cref="WireFormatException"/> and that its
    /// message contains <paramref name="expectedFragment"/> (case-insensitive) when one is given.</summary>
    public static WireFormatException Throws(Action parse, string? expectedFragment = null)
    {
        var e = Assert.Throws<WireFormatException>(parse);
        Assert.False(string.IsNullOrWhiteSpace(e.Message));
        if (expectedFragment is not null)
        {
            Assert.Contains(expectedFragment, e.Message, StringComparison.OrdinalIgnoreCase);
        }
        return e;
    }
}
