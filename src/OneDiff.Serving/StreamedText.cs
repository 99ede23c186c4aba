namespace OneDiff.Serving;

/// <summary>
/// One caption as a client receives it while it is generated: cut before the first stop string
/// (OpenAI leaves the stop string out), and streamed only as far as it can no longer change, so
/// the pieces join to exactly the final caption. Held back until more text comes: a tail that may
/// begin a stop string, trailing whitespace (the caption is trimmed) and an incomplete character
/// (U+FFFD while a multi-byte character's tokens are still arriving).
/// </summary>
internal sealed class StreamedText(IReadOnlyList<string> stops)
{
    /// <summary>What has been handed out so far.</summary>
    public string Sent { get; private set; } = "";
    public bool StopSeen { get; private set; }

    /// <summary>The new piece to send for the caption so far, and whether a stop string ended it.</summary>
    public (string Delta, bool Stop) Update(string text)
    {
        var (cut, stop) = Cut(text);
        StopSeen |= stop;
        return (Advance(stop ? cut : HoldBack(cut)), stop);
    }

    /// <summary>The final caption and the piece of it not yet sent.</summary>
    public (string Caption, string Delta) Finish(string caption)
    {
        var (cut, stop) = Cut(caption);
        StopSeen |= stop;
        return (cut, Advance(cut));
    }

    (string Text, bool Stop) Cut(string text)
    {
        int at = -1;
        foreach (var s in stops)
        {
            int i = text.IndexOf(s, StringComparison.Ordinal);
            if (i >= 0 && (at < 0 || i < at)) at = i;
        }
        return at < 0 ? (text, false) : (text[..at].TrimEnd(), true);
    }

    string HoldBack(string text)
    {
        text = text.TrimEnd().TrimEnd('\uFFFD');
        int hold = 0;
        foreach (var s in stops)
            for (int k = Math.Min(s.Length - 1, text.Length); k > hold; k--)
                if (text.EndsWith(s[..k], StringComparison.Ordinal)) { hold = k; break; }
        return text[..^hold].TrimEnd();
    }

    string Advance(string safe)
    {
        if (safe.Length <= Sent.Length || !safe.StartsWith(Sent, StringComparison.Ordinal)) return "";
        string delta = safe[Sent.Length..];
        Sent = safe;
        return delta;
    }
}
