using Xunit;

namespace OneDiff.Serving.Tests;

/// <summary>Pieces of a streamed caption join to the final caption, whatever the stop strings.</summary>
public class StreamedTextTests
{
    static (List<string> Pieces, string Caption, bool Stop) Stream(string[] sofar, string final, params string[] stops)
    {
        var text = new StreamedText(stops);
        var pieces = new List<string>();
        foreach (var s in sofar)
        {
            var (delta, stop) = text.Update(s);
            if (delta.Length > 0) pieces.Add(delta);
            if (stop) break;
        }
        var (caption, rest) = text.Finish(final);
        if (rest.Length > 0) pieces.Add(rest);
        return (pieces, caption, text.StopSeen);
    }

    [Fact]
    public void WithoutStopsEveryPieceGoesOutAndTheyJoin()
    {
        var (pieces, caption, stop) = Stream(["the", "the red", "the red car", "the red car is gone"], "the red car is gone");
        Assert.Equal(["the", " red", " car", " is gone"], pieces);
        Assert.Equal(caption, string.Concat(pieces));
        Assert.False(stop);
    }

    [Fact]
    public void ATailThatMayBeginAStopStringWaitsAndTheStopStringIsLeftOut()
    {
        var (pieces, caption, stop) = Stream(["the car", "the car is", "the car is go", "the car is gone"], "the car is gone now", " is gone");
        Assert.Equal("the car", caption);
        Assert.Equal(["the car"], pieces);
        Assert.True(stop);
        // A tail that turned out not to be the stop string goes out with the next piece.
        (pieces, caption, _) = Stream(["the car", "the car is", "the car is red"], "the car is red", " is gone");
        Assert.Equal(["the car", " is red"], pieces);
        Assert.Equal("the car is red", caption);
    }

    [Fact]
    public void AnIncompleteCharacterAndTrailingSpaceWait()
    {
        var (pieces, caption, _) = Stream(["a caf", "a caf\uFFFD", "a café ", "a café is"], "a café is");
        Assert.Equal(["a caf", "é", " is"], pieces);
        Assert.Equal(caption, string.Concat(pieces));
    }
}
