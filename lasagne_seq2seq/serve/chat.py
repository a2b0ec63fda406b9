"""The interactive chat loop of ``bin/chat.py``, over any text streams."""
CHAT_HELP = "type a message; /reset forgets the conversation, /quit or Ctrl-D leaves"


def run_chat(conversation, options, stdin, stdout, prompt="you> "):
    """An interactive chat on text streams.

    Parameters
    ----------
    conversation : Conversation
        From ``Decoder.start_conversation``; remembers earlier turns if
        it was started with memory.
    options : DecodeOptions
    stdin, stdout : text streams
    prompt : str
        Written before each message is read.

    Returns
    -------
    int
        The number of replies given.
    """
    stdout.write(CHAT_HELP + "\n")
    turns = 0
    while True:
        stdout.write(prompt)
        stdout.flush()
        line = stdin.readline()
        text = line.strip()
        if not line or text == "/quit":
            stdout.write("\n")
            return turns
        if text == "/reset":
            conversation.reset()
            stdout.write("(conversation reset)\n")
        elif text:
            reply = conversation.reply(text, options)
            note = "  [unknown: %s]" % ", ".join(reply.unknown) if reply.unknown else ""
            stdout.write("bot> %s%s\n" % (reply.text, note))
            turns += 1
