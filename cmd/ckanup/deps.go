package main
import (
 _ "github.com/aws/aws-sdk-go-v2/aws"
 _ "github.com/aws/aws-sdk-go-v2/config"
 _ "github.com/aws/aws-sdk-go-v2/service/s3"
 _ "github.com/aws/aws-sdk-go-v2/service/sts"
 _ "github.com/spf13/cobra"
 _ "github.com/schollz/progressbar/v3"
 _ "github.com/cenkalti/backoff/v4"
 _ "github.com/google/uuid"
 _ "golang.org/x/term"
 _ "golang.org/x/sync/errgroup"
)
func main(){}
